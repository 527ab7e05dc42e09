"""The endpoints of ``depthblur serve``, one router per API it answers as."""
