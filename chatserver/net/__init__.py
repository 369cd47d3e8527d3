"""The transports: listening, admission, a thread per connection, and the wire formats each speaks."""
