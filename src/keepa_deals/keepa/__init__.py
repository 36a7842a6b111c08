"""Everything that speaks Keepa's API: values, token status, errors and the client."""
