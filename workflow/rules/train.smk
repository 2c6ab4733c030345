# placeholder: stage rules go here
