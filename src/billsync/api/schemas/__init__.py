"""Request and response models of /api/v1, one module per noun (XCreate / XUpdate / XPublic)."""
