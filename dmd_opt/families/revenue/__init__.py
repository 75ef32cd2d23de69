"""Revenue maximisation over the tree of public report histories (the revenue program)."""
