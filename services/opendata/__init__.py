"""The open-data service: the public history of every case, line by line, and its days."""
