"""Training the reference networks (PyTorch, CPU): the optional extra `pip install '.[train]'`."""
