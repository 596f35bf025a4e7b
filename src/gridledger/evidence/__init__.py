"""Evidence certificates: built by a node, verified offline by anyone."""
