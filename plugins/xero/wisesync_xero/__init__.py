"""wisesync's Xero target: posts ConnectWise records into Xero and reads payments back."""
