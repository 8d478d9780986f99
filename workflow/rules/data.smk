# placeholder: rules of the data stage
