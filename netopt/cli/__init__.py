"""The command lines: each parses its arguments and calls the library."""
