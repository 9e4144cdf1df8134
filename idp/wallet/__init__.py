"""The EU Digital Identity Wallet: the PID as an SD-JWT VC, its status lists (docs/wallet.md)."""
