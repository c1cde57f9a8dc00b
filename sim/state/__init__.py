"""The state store (Nomad: nomad/state): `store.StateStore` and the tables it is composed of."""
