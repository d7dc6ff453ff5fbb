# Redraw with: cd <report dir> && gnuplot data/isoflop_params.gp
set terminal svg size 1000,1780 font 'Helvetica,13' background rgb 'white'
set termoption noenhanced
set output 'plots/isoflop_params.svg'
set border 3 lw 1 lc rgb '#555555'
set tics nomirror out scale 0.6
set grid xtics ytics lc rgb '#e8e8e8' lw 1 dt 1
set key outside right top box lc rgb '#dddddd' samplen 2 spacing 1.1 font ',11'
set datafile missing 'NaN'
set ylabel 'final loss (nats/token)'
set logscale x 10
set key font ',10'
set xlabel 'parameters N (log scale)'
set multiplot layout 4,1
set title 'power p=2, sweep wsfr-width' font ',12'
set xrange [47774.2857:10230595.2]
set yrange [0.93624986:2.82434698]
set xtics ('5e4' 50000, '1e5' 100000, '2e5' 200000, '3e5' 300000, '5e5' 500000, '1e6' 1000000, '2e6' 2000000, '3e6' 3000000, '5e6' 5000000, '1e7' 10000000)
plot 'data/isoflop_params.dat' index 0 using 1:2 with points pt 7 ps 1.4 lc rgb '#CC79A7' notitle, \
     'data/isoflop_params.dat' index 1 using 1:2 with points pt 7 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_params.dat' index 2 using 1:2 with points pt 7 ps 1.4 lc rgb '#56B4E9' notitle, \
     'data/isoflop_params.dat' index 3 using 1:2 with points pt 7 ps 1.4 lc rgb '#117733' notitle, \
     (log(x) >= 11.0107151 && log(x) <= 13.7634031) ? 0.0502809272*log(x)**2 + -1.11858092*log(x) + 8.58717216 : 1/0 with lines lw 1.5 dt 1 lc rgb '#222222' title 'C = 1e13: parabola', \
     'data/isoflop_params.dat' index 4 using 1:2:3:4 with xerrorbars pt 6 ps 2 lw 2 dt 1 lc rgb '#222222' title 'C = 1e13: optimum (weak)', \
     'data/isoflop_params.dat' index 5 using 1:2 with points pt 5 ps 1.4 lc rgb '#CC79A7' notitle, \
     'data/isoflop_params.dat' index 6 using 1:2 with points pt 5 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_params.dat' index 7 using 1:2 with points pt 5 ps 1.4 lc rgb '#56B4E9' notitle, \
     'data/isoflop_params.dat' index 8 using 1:2 with points pt 5 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_params.dat' index 9 using 1:2 with points pt 5 ps 1.4 lc rgb '#AA4499' notitle, \
     'data/isoflop_params.dat' index 10 using 1:2 with points pt 5 ps 1.4 lc rgb '#44AA99' notitle, \
     (log(x) >= 11.0107151 && log(x) <= 15.1078415) ? 0.0541663882*log(x)**2 + -1.23570499*log(x) + 8.94478546 : 1/0 with lines lw 1.5 dt 2 lc rgb '#222222' title 'C = 3e13: parabola', \
     'data/isoflop_params.dat' index 11 using 1:2:3:4 with xerrorbars pt 4 ps 2 lw 2 dt 2 lc rgb '#222222' title 'C = 3e13: optimum (weak)', \
     'data/isoflop_params.dat' index 12 using 1:2 with points pt 9 ps 1.4 lc rgb '#CC79A7' notitle, \
     'data/isoflop_params.dat' index 13 using 1:2 with points pt 9 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_params.dat' index 14 using 1:2 with points pt 9 ps 1.4 lc rgb '#56B4E9' notitle, \
     'data/isoflop_params.dat' index 15 using 1:2 with points pt 9 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_params.dat' index 16 using 1:2 with points pt 9 ps 1.4 lc rgb '#AA4499' notitle, \
     'data/isoflop_params.dat' index 17 using 1:2 with points pt 9 ps 1.4 lc rgb '#44AA99' notitle, \
     'data/isoflop_params.dat' index 18 using 1:2 with points pt 9 ps 1.4 lc rgb '#0072B2' notitle, \
     (log(x) >= 11.0107151 && log(x) <= 15.9044211) ? 0.0758983904*log(x)**2 + -1.89871845*log(x) + 13.3926813 : 1/0 with lines lw 1.5 dt 3 lc rgb '#222222' title 'C = 1e14: parabola', \
     'data/isoflop_params.dat' index 19 using 1:2:3:4 with xerrorbars pt 8 ps 2 lw 2 dt 3 lc rgb '#222222' title 'C = 1e14: optimum (ok)', \
     'data/isoflop_params.dat' index 20 using 1:2 with points pt 13 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_params.dat' index 21 using 1:2 with points pt 13 ps 1.4 lc rgb '#56B4E9' notitle, \
     'data/isoflop_params.dat' index 22 using 1:2 with points pt 13 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_params.dat' index 23 using 1:2 with points pt 13 ps 1.4 lc rgb '#AA4499' notitle, \
     'data/isoflop_params.dat' index 24 using 1:2 with points pt 13 ps 1.4 lc rgb '#44AA99' notitle, \
     'data/isoflop_params.dat' index 25 using 1:2 with points pt 13 ps 1.4 lc rgb '#0072B2' notitle, \
     (log(x) >= 12.2559054 && log(x) <= 15.9044211) ? 0.0674563337*log(x)**2 + -1.69337169*log(x) + 11.744966 : 1/0 with lines lw 1.5 dt 4 lc rgb '#222222' title 'C = 3e14: parabola', \
     'data/isoflop_params.dat' index 26 using 1:2:3:4 with xerrorbars pt 12 ps 2 lw 2 dt 4 lc rgb '#222222' title 'C = 3e14: optimum (weak)', \
     NaN with points pt 7 ps 1.2 lc rgb '#CC79A7' title 'power p=2 d=32 h=1', \
     NaN with points pt 7 ps 1.2 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     NaN with points pt 7 ps 1.2 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     NaN with points pt 7 ps 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     NaN with points pt 7 ps 1.2 lc rgb '#AA4499' title 'power p=2 d=192 h=6', \
     NaN with points pt 7 ps 1.2 lc rgb '#44AA99' title 'power p=2 d=256 h=8', \
     NaN with points pt 7 ps 1.2 lc rgb '#0072B2' title 'power p=2 d=384 h=12'
set autoscale
set title 'power p=2, sweep wsfr-mixers' font ',12'
set xrange [165948.571:4612652.8]
set yrange [1.42443758:2.78818493]
set xtics ('2e5' 200000, '3e5' 300000, '5e5' 500000, '1e6' 1000000, '2e6' 2000000, '3e6' 3000000)
plot 'data/isoflop_params.dat' index 27 using 1:2 with points pt 7 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_params.dat' index 28 using 1:2 with points pt 7 ps 1.4 lc rgb '#117733' notitle, \
     NaN with points pt 7 ps 1.4 lc rgb '#222222' title 'C = 1e13: undecided', \
     'data/isoflop_params.dat' index 29 using 1:2 with points pt 5 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_params.dat' index 30 using 1:2 with points pt 5 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_params.dat' index 31 using 1:2 with points pt 5 ps 1.4 lc rgb '#44AA99' notitle, \
     (log(x) >= 12.2559054 && log(x) <= 15.1078415) ? 0.072837095*log(x)**2 + -1.75931315*log(x) + 12.594381 : 1/0 with lines lw 1.5 dt 2 lc rgb '#222222' title 'C = 3e13: parabola', \
     NaN with points pt 5 ps 1.4 lc rgb '#222222' title 'C = 3e13: bound <= 2.32e5', \
     'data/isoflop_params.dat' index 32 using 1:2 with points pt 9 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_params.dat' index 33 using 1:2 with points pt 9 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_params.dat' index 34 using 1:2 with points pt 9 ps 1.4 lc rgb '#44AA99' notitle, \
     (log(x) >= 12.2559054 && log(x) <= 15.1078415) ? 0.0825874044*log(x)**2 + -2.07102672*log(x) + 14.5002746 : 1/0 with lines lw 1.5 dt 3 lc rgb '#222222' title 'C = 1e14: parabola', \
     'data/isoflop_params.dat' index 35 using 1:2:3:4 with xerrorbars pt 8 ps 2 lw 2 dt 3 lc rgb '#222222' title 'C = 1e14: optimum (weak)', \
     NaN with points pt 7 ps 1.2 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     NaN with points pt 7 ps 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     NaN with points pt 7 ps 1.2 lc rgb '#44AA99' title 'power p=2 d=256 h=8'
set autoscale
set title 'softmax, sweep wsfr-mixers' font ',12'
set xrange [165577.143:4601139.2]
set yrange [1.53142599:2.75751233]
set xtics ('2e5' 200000, '3e5' 300000, '5e5' 500000, '1e6' 1000000, '2e6' 2000000, '3e6' 3000000)
plot 'data/isoflop_params.dat' index 36 using 1:2 with points pt 7 ps 1.4 lc rgb '#D55E00' notitle, \
     NaN with points pt 7 ps 1.4 lc rgb '#222222' title 'C = 1e13: undecided', \
     'data/isoflop_params.dat' index 37 using 1:2 with points pt 5 ps 1.4 lc rgb '#D55E00' notitle, \
     'data/isoflop_params.dat' index 38 using 1:2 with points pt 5 ps 1.4 lc rgb '#009E73' notitle, \
     NaN with points pt 5 ps 1.4 lc rgb '#222222' title 'C = 3e13: undecided', \
     'data/isoflop_params.dat' index 39 using 1:2 with points pt 9 ps 1.4 lc rgb '#D55E00' notitle, \
     'data/isoflop_params.dat' index 40 using 1:2 with points pt 9 ps 1.4 lc rgb '#009E73' notitle, \
     'data/isoflop_params.dat' index 41 using 1:2 with points pt 9 ps 1.4 lc rgb '#CC79A7' notitle, \
     (log(x) >= 12.2536647 && log(x) <= 15.1053422) ? 0.0489770329*log(x)**2 + -1.14439911*log(x) + 8.27983517 : 1/0 with lines lw 1.5 dt 3 lc rgb '#222222' title 'C = 1e14: parabola', \
     NaN with points pt 9 ps 1.4 lc rgb '#222222' title 'C = 1e14: bound <= 2.32e5', \
     NaN with points pt 7 ps 1.2 lc rgb '#D55E00' title 'softmax d=64', \
     NaN with points pt 7 ps 1.2 lc rgb '#009E73' title 'softmax d=128', \
     NaN with points pt 7 ps 1.2 lc rgb '#CC79A7' title 'softmax d=256'
set autoscale
set title 'power p=1, sweep wsfr-mixers' font ',12'
set xrange [165948.571:4612652.8]
set yrange [1.2465516:2.75669725]
set xtics ('2e5' 200000, '3e5' 300000, '5e5' 500000, '1e6' 1000000, '2e6' 2000000, '3e6' 3000000)
plot 'data/isoflop_params.dat' index 42 using 1:2 with points pt 7 ps 1.4 lc rgb '#0072B2' notitle, \
     'data/isoflop_params.dat' index 43 using 1:2 with points pt 7 ps 1.4 lc rgb '#D55E00' notitle, \
     NaN with points pt 7 ps 1.4 lc rgb '#222222' title 'C = 1e13: undecided', \
     'data/isoflop_params.dat' index 44 using 1:2 with points pt 5 ps 1.4 lc rgb '#0072B2' notitle, \
     'data/isoflop_params.dat' index 45 using 1:2 with points pt 5 ps 1.4 lc rgb '#D55E00' notitle, \
     'data/isoflop_params.dat' index 46 using 1:2 with points pt 5 ps 1.4 lc rgb '#009E73' notitle, \
     (log(x) >= 12.2559054 && log(x) <= 15.1078415) ? 0.0304812359*log(x)**2 + -0.53115028*log(x) + 3.68234343 : 1/0 with lines lw 1.5 dt 2 lc rgb '#222222' title 'C = 3e13: parabola', \
     NaN with points pt 5 ps 1.4 lc rgb '#222222' title 'C = 3e13: bound <= 2.32e5', \
     'data/isoflop_params.dat' index 47 using 1:2 with points pt 9 ps 1.4 lc rgb '#0072B2' notitle, \
     'data/isoflop_params.dat' index 48 using 1:2 with points pt 9 ps 1.4 lc rgb '#D55E00' notitle, \
     'data/isoflop_params.dat' index 49 using 1:2 with points pt 9 ps 1.4 lc rgb '#009E73' notitle, \
     (log(x) >= 12.2559054 && log(x) <= 15.1078415) ? 0.0611051472*log(x)**2 + -1.44586003*log(x) + 9.88764646 : 1/0 with lines lw 1.5 dt 3 lc rgb '#222222' title 'C = 1e14: parabola', \
     NaN with points pt 9 ps 1.4 lc rgb '#222222' title 'C = 1e14: bound <= 2.32e5', \
     NaN with points pt 7 ps 1.2 lc rgb '#0072B2' title 'power p=1 d=64 h=2', \
     NaN with points pt 7 ps 1.2 lc rgb '#D55E00' title 'power p=1 d=128 h=4', \
     NaN with points pt 7 ps 1.2 lc rgb '#009E73' title 'power p=1 d=256 h=8'
set autoscale
unset multiplot
