# placeholder: rules that build and pretrain the demo model
