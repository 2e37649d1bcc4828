"""OKX v5 (SPEC §2): the adapter on python-okx (`venue`), its answers turned into the
domain's types (`parse`), and its error codes in the venue error taxonomy (`codes`, which
the paper venue speaks too). Nothing is imported here: the paper demo must not pay for
python-okx."""
