def configure(c):
    pass
