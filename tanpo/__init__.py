"""tanpo: automated collateral management for securities lending and repo on Hyperledger Fabric."""

__version__ = "0.1.0"
