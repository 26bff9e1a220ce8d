"""One thin module per command: parse the options, call `experiment`, render the result."""
