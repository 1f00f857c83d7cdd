"""Quote: render extracted facts as a quote document (견적서 / Quotation)."""
