"""HTTP routes of the API, declared once and included by the functions that serve them."""
