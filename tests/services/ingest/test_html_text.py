"""HTML bodies become readable text: rows stay rows, breaks stay breaks, quotes are marked."""

from __future__ import annotations

from services.ingest.html_text import QUOTE_CUT, has_data_table, html_to_text


def test_price_table_comes_out_as_rows() -> None:
    html = (
        "<p>견적입니다.</p><table><tr><th>품목</th><th>수량</th><th>단가</th></tr>"
        "<tr><td>X 제품</td><td>100</td><td>9,500원</td></tr>"
        "<tr><td>Y&nbsp;부품</td><td> 50 </td><td>12,000원</td></tr></table><p>감사합니다.</p>"
    )
    lines = html_to_text(html).splitlines()
    assert "품목 | 수량 | 단가" in lines
    assert "X 제품 | 100 | 9,500원" in lines
    assert "Y 부품 | 50 | 12,000원" in lines
    assert has_data_table(html)


def test_line_breaks_paragraphs_and_lists() -> None:
    text = html_to_text("<div>Hello<br>World</div><p>Para</p><ul><li>one</li><li>two</li></ul>")
    assert text.splitlines() == ["Hello", "World", "", "Para", "", "- one", "- two"]


def test_script_style_and_head_are_dropped() -> None:
    html = "<html><head><title>t</title><style>p{color:red}</style></head><body><script>x=1</script>Hi</body></html>"
    assert html_to_text(html) == "Hi"


def test_blockquote_lines_are_marked_quoted() -> None:
    text = html_to_text("Reply<blockquote>old line<br>second</blockquote>")
    assert text.splitlines() == ["Reply", "> old line", "> second"]


def test_layout_tables_are_not_data_tables() -> None:
    html = (
        "<table><tr><td><p>Just a newsletter paragraph that is quite long and fills the single cell.</p>"
        "</td></tr></table>"
    )
    assert not has_data_table(html)
    assert "newsletter" in html_to_text(html)


def test_outlook_reply_container_is_marked() -> None:
    text = html_to_text('<p>New</p><div id="divRplyFwdMsg"><b>From:</b> a@b.c</div>')
    assert QUOTE_CUT in text.splitlines()


def test_outlook_msonormal_paragraphs_are_single_lines() -> None:
    html = "<p class=MsoNormal>Thanks,<o:p></o:p></p><p class=MsoNormal>Alex<o:p></o:p></p>"
    assert html_to_text(html) == "Thanks,\nAlex"


def test_broken_markup_does_not_raise() -> None:
    assert "text" in html_to_text("<table><tr><td>text<td>more</table></div></b><<>>")
    assert html_to_text("") == ""
