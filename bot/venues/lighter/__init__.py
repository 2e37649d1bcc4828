"""Lighter (SPEC §2) through lighter-sdk: its wire format (`wire`: integers scaled by each
market's decimals, integer client order indices). Nothing is imported here: lighter-sdk
takes two seconds to import, which no other venue should pay."""
