print("rethink-bench: not written yet")
