"""What the user asked for: the defaults, the jobs' option sets and the Photoshop API's options."""
