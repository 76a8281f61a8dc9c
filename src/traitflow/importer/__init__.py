"""CSV trait import: each valid row becomes an identify message on the events topic."""
