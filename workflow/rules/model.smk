# placeholder: rules of the model stage
