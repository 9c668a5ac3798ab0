"""Reference data files of the kit (package data): ``provinces.csv``, the province codes of birth registration."""
