"""The stream processor: a pure pipeline step and the Faust app that runs it."""
