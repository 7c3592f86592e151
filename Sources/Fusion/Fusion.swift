// Fusion: see ../shared/DESIGN.md
