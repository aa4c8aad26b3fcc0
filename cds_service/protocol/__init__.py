"""The CDS Hooks wire format: requests in, cards out, feedback, discovery."""
