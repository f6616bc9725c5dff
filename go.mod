module github.com/daas-nas/daas

go 1.26.8
