"""The data layer: ontology files → term tables → annotation counts → sampled facts → literature counts."""
