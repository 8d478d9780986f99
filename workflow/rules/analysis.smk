# placeholder: rules of the analysis stage
