"""The analytics read queries, one module per topic; `common` holds what they share."""
