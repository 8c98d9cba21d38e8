"""Data contracts: the one definition of every record and table (schemas as code)."""
