// Ledger: see ../shared/DESIGN.md
