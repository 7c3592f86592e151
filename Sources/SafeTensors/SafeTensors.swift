// SafeTensors: see ../shared/DESIGN.md
