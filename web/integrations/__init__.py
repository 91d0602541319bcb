"""What other systems call or read: Open311 GeoReport v2, the Zalo and Facebook webhooks, the SMS gateway's
URLs, Prometheus metrics and the OpenAPI document."""
