module stagegate/relay

go 1.19
