"""The citizen registry: people, their accounts and their activation letters."""
