"""A small inventory module to try specedit on: `specedit examples/` and ask for an edit."""

import json


class Inventory:
    def __init__(self):
        self.items = {}

    def add(self, name, count):
        if count <= 0:
            raise ValueError("count must be positive")
        self.items[name] = self.items.get(name, 0) + count

    def remove(self, name, count):
        have = self.items.get(name, 0)
        if count > have:
            raise ValueError(f"only {have} {name} left")
        self.items[name] = have - count
        if self.items[name] == 0:
            del self.items[name]

    def total(self):
        return sum(self.items.values())

    def to_json(self):
        return json.dumps(self.items, sort_keys=True)


def load(text):
    inv = Inventory()
    for name, count in json.loads(text).items():
        inv.add(name, count)
    return inv
