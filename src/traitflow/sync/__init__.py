"""Scheduled trait sync: the files a folder or bucket receives, imported once each,
publishing only the rows whose values changed since the last import."""
