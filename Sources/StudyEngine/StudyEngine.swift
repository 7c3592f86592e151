// StudyEngine: see ../shared/DESIGN.md
