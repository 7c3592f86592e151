// Surrogate: see ../shared/DESIGN.md
