"""Mandates: who may act for whom (a power of attorney, a parent's custody, a guardianship)."""
