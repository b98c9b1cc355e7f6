// The IPAM tests arrive with the IPAM module.
