"""The Mesa model: round protocol, table, coalitions, terminal rules, reporters."""
