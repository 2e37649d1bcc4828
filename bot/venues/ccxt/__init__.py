"""Any ccxt exchange, Bitget first (SPEC §2): the adapter on ccxt.async_support
(`venue`) and ccxt's answers and errors in the domain's terms (`parse`). Nothing is
imported here: ccxt alone takes half a second to import."""
