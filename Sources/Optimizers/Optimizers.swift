// Optimizers: see ../shared/DESIGN.md
