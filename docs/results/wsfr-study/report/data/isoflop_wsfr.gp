# Redraw with: cd <report dir> && gnuplot data/isoflop_wsfr.gp
set terminal svg size 1000,2220 font 'Helvetica,13' background rgb 'white'
set termoption noenhanced
set output 'plots/isoflop_wsfr.svg'
set border 3 lw 1 lc rgb '#555555'
set tics nomirror out scale 0.6
set grid xtics ytics lc rgb '#e8e8e8' lw 1 dt 1
set key outside right top box lc rgb '#dddddd' samplen 2 spacing 1.1 font ',11'
set datafile missing 'NaN'
set ylabel 'final loss (nats/token)'
set logscale x 10
set key font ',10'
set xlabel 'WSFR = weight FLOPs / state FLOPs per token (log scale)'
set multiplot layout 5,1
set title 'power d=128, sweep wsfr-state' font ',12'
set xrange [0.266733267:15.4958904]
set yrange [0.941225653:2.82397841]
set xtics ('0.3' 0.3, '0.5' 0.5, '1' 1, '2' 2, '3' 3, '5' 5, '10' 10)
set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 3 lw 1.5 lc rgb '#888888'
set label 1 'WSFR = 1 (balanced)' at 1, graph 0.97 right offset -0.5,0 font ',10' tc rgb '#666666'
plot 'data/isoflop_wsfr.dat' index 0 using 1:2 with points pt 7 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_wsfr.dat' index 1 using 1:2 with points pt 7 ps 1.4 lc rgb '#332288' notitle, \
     'data/isoflop_wsfr.dat' index 2 using 1:2 with points pt 7 ps 1.4 lc rgb '#999933' notitle, \
     (log(x) >= 0.229266341 && log(x) <= 2.50410262) ? 0.0310550086*log(x)**2 + -0.218898713*log(x) + 2.76198043 : 1/0 with lines lw 1.5 dt 1 lc rgb '#222222' title 'C = 1e13: parabola', \
     NaN with points pt 7 ps 1.4 lc rgb '#222222' title 'C = 1e13: bound >= 11.07', \
     'data/isoflop_wsfr.dat' index 3 using 1:2 with points pt 5 ps 1.4 lc rgb '#882255' notitle, \
     'data/isoflop_wsfr.dat' index 4 using 1:2 with points pt 5 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_wsfr.dat' index 5 using 1:2 with points pt 5 ps 1.4 lc rgb '#332288' notitle, \
     'data/isoflop_wsfr.dat' index 6 using 1:2 with points pt 5 ps 1.4 lc rgb '#999933' notitle, \
     (log(x) >= -1.08503388 && log(x) <= 2.50410262) ? 0.0416654221*log(x)**2 + -0.254999075*log(x) + 2.2556909 : 1/0 with lines lw 1.5 dt 2 lc rgb '#222222' title 'C = 3e13: parabola', \
     NaN with points pt 5 ps 1.4 lc rgb '#222222' title 'C = 3e13: bound >= 11.07', \
     'data/isoflop_wsfr.dat' index 7 using 1:2 with points pt 9 ps 1.4 lc rgb '#882255' notitle, \
     'data/isoflop_wsfr.dat' index 8 using 1:2 with points pt 9 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_wsfr.dat' index 9 using 1:2 with points pt 9 ps 1.4 lc rgb '#332288' notitle, \
     'data/isoflop_wsfr.dat' index 10 using 1:2 with points pt 9 ps 1.4 lc rgb '#999933' notitle, \
     (log(x) >= -1.08503388 && log(x) <= 2.50410262) ? 0.051260676*log(x)**2 + -0.237030989*log(x) + 1.70289926 : 1/0 with lines lw 1.5 dt 3 lc rgb '#222222' title 'C = 1e14: parabola', \
     'data/isoflop_wsfr.dat' index 11 using 1:2:3:4 with xerrorbars pt 8 ps 2 lw 2 dt 3 lc rgb '#222222' title 'C = 1e14: optimum (weak)', \
     'data/isoflop_wsfr.dat' index 12 using 1:2 with points pt 13 ps 1.4 lc rgb '#882255' notitle, \
     'data/isoflop_wsfr.dat' index 13 using 1:2 with points pt 13 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_wsfr.dat' index 14 using 1:2 with points pt 13 ps 1.4 lc rgb '#332288' notitle, \
     'data/isoflop_wsfr.dat' index 15 using 1:2 with points pt 13 ps 1.4 lc rgb '#999933' notitle, \
     (log(x) >= -1.08503388 && log(x) <= 2.50410262) ? 0.0612417428*log(x)**2 + -0.222934259*log(x) + 1.2613053 : 1/0 with lines lw 1.5 dt 4 lc rgb '#222222' title 'C = 3e14: parabola', \
     'data/isoflop_wsfr.dat' index 16 using 1:2:3:4 with xerrorbars pt 12 ps 2 lw 2 dt 4 lc rgb '#222222' title 'C = 3e14: optimum (weak)', \
     NaN with points pt 7 ps 1.2 lc rgb '#882255' title 'power p=2 d=128 h=2', \
     NaN with points pt 7 ps 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     NaN with points pt 7 ps 1.2 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     NaN with points pt 7 ps 1.2 lc rgb '#999933' title 'power p=2 d=128 h=16'
unset arrow 1
unset label 1
set autoscale
set title 'window d=128, sweep wsfr-state' font ',12'
set xrange [0.557763369:70.2572899]
set yrange [0.849820235:2.84013923]
set xtics ('1' 1, '2' 2, '3' 3, '5' 5, '10' 10, '20' 20, '30' 30, '50' 50)
set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 3 lw 1.5 lc rgb '#888888'
set label 1 'WSFR = 1 (balanced)' at 1, graph 0.97 right offset -0.5,0 font ',10' tc rgb '#666666'
plot 'data/isoflop_wsfr.dat' index 17 using 1:2 with points pt 7 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_wsfr.dat' index 18 using 1:2 with points pt 7 ps 1.4 lc rgb '#56B4E9' notitle, \
     'data/isoflop_wsfr.dat' index 19 using 1:2 with points pt 7 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_wsfr.dat' index 20 using 1:2 with points pt 7 ps 1.4 lc rgb '#332288' notitle, \
     (log(x) >= 0.479539516 && log(x) <= 4.01569184) ? 0.0370763045*log(x)**2 + -0.30655899*log(x) + 2.86770051 : 1/0 with lines lw 1.5 dt 1 lc rgb '#222222' title 'C = 1e13: parabola', \
     NaN with points pt 7 ps 1.4 lc rgb '#222222' title 'C = 1e13: bound >= 50.18', \
     'data/isoflop_wsfr.dat' index 21 using 1:2 with points pt 5 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_wsfr.dat' index 22 using 1:2 with points pt 5 ps 1.4 lc rgb '#56B4E9' notitle, \
     'data/isoflop_wsfr.dat' index 23 using 1:2 with points pt 5 ps 1.4 lc rgb '#882255' notitle, \
     'data/isoflop_wsfr.dat' index 24 using 1:2 with points pt 5 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_wsfr.dat' index 25 using 1:2 with points pt 5 ps 1.4 lc rgb '#332288' notitle, \
     (log(x) >= -0.34734824 && log(x) <= 4.01569184) ? 0.0546868465*log(x)**2 + -0.361595297*log(x) + 2.3730892 : 1/0 with lines lw 1.5 dt 2 lc rgb '#222222' title 'C = 3e13: parabola', \
     'data/isoflop_wsfr.dat' index 26 using 1:2:3:4 with xerrorbars pt 4 ps 2 lw 2 dt 2 lc rgb '#222222' title 'C = 3e13: optimum (weak)', \
     'data/isoflop_wsfr.dat' index 27 using 1:2 with points pt 9 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_wsfr.dat' index 28 using 1:2 with points pt 9 ps 1.4 lc rgb '#56B4E9' notitle, \
     'data/isoflop_wsfr.dat' index 29 using 1:2 with points pt 9 ps 1.4 lc rgb '#882255' notitle, \
     'data/isoflop_wsfr.dat' index 30 using 1:2 with points pt 9 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_wsfr.dat' index 31 using 1:2 with points pt 9 ps 1.4 lc rgb '#332288' notitle, \
     (log(x) >= -0.34734824 && log(x) <= 4.01569184) ? 0.0768564841*log(x)**2 + -0.361197382*log(x) + 1.70750796 : 1/0 with lines lw 1.5 dt 3 lc rgb '#222222' title 'C = 1e14: parabola', \
     'data/isoflop_wsfr.dat' index 32 using 1:2:3:4 with xerrorbars pt 8 ps 2 lw 2 dt 3 lc rgb '#222222' title 'C = 1e14: optimum (ok)', \
     'data/isoflop_wsfr.dat' index 33 using 1:2 with points pt 13 ps 1.4 lc rgb '#E69F00' notitle, \
     'data/isoflop_wsfr.dat' index 34 using 1:2 with points pt 13 ps 1.4 lc rgb '#56B4E9' notitle, \
     'data/isoflop_wsfr.dat' index 35 using 1:2 with points pt 13 ps 1.4 lc rgb '#882255' notitle, \
     'data/isoflop_wsfr.dat' index 36 using 1:2 with points pt 13 ps 1.4 lc rgb '#117733' notitle, \
     'data/isoflop_wsfr.dat' index 37 using 1:2 with points pt 13 ps 1.4 lc rgb '#332288' notitle, \
     (log(x) >= -0.34734824 && log(x) <= 4.01569184) ? 0.0519005615*log(x)**2 + -0.162898251*log(x) + 1.13398183 : 1/0 with lines lw 1.5 dt 4 lc rgb '#222222' title 'C = 3e14: parabola', \
     'data/isoflop_wsfr.dat' index 38 using 1:2:3:4 with xerrorbars pt 12 ps 2 lw 2 dt 4 lc rgb '#222222' title 'C = 3e14: optimum (ok)', \
     NaN with points pt 7 ps 1.2 lc rgb '#E69F00' title 'window w=128 d=128', \
     NaN with points pt 7 ps 1.2 lc rgb '#56B4E9' title 'window w=16 d=128', \
     NaN with points pt 7 ps 1.2 lc rgb '#882255' title 'window w=2048 d=128', \
     NaN with points pt 7 ps 1.2 lc rgb '#117733' title 'window w=32 d=128', \
     NaN with points pt 7 ps 1.2 lc rgb '#332288' title 'window w=512 d=128'
unset arrow 1
unset label 1
set autoscale
set title 'power d=64, sweep wsfr-mixers' font ',12'
set xrange [0.516216885:8.9129771]
set yrange [1.26295731:2.53522015]
set xtics ('1' 1, '2' 2, '3' 3, '5' 5)
set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 3 lw 1.5 lc rgb '#888888'
set label 1 'WSFR = 1 (balanced)' at 1, graph 0.97 right offset -0.5,0 font ',10' tc rgb '#666666'
plot 'data/isoflop_wsfr.dat' index 39 using 1:2 with points pt 7 ps 1.4 lc rgb '#0072B2' notitle, \
     'data/isoflop_wsfr.dat' index 40 using 1:2 with points pt 7 ps 1.4 lc rgb '#E69F00' notitle, \
     NaN with points pt 7 ps 1.4 lc rgb '#222222' title 'C = 1e13: undecided', \
     'data/isoflop_wsfr.dat' index 41 using 1:2 with points pt 5 ps 1.4 lc rgb '#0072B2' notitle, \
     'data/isoflop_wsfr.dat' index 42 using 1:2 with points pt 5 ps 1.4 lc rgb '#E69F00' notitle, \
     NaN with points pt 5 ps 1.4 lc rgb '#222222' title 'C = 3e13: undecided', \
     'data/isoflop_wsfr.dat' index 43 using 1:2 with points pt 9 ps 1.4 lc rgb '#0072B2' notitle, \
     'data/isoflop_wsfr.dat' index 44 using 1:2 with points pt 9 ps 1.4 lc rgb '#E69F00' notitle, \
     NaN with points pt 9 ps 1.4 lc rgb '#222222' title 'C = 1e14: undecided', \
     NaN with points pt 7 ps 1.2 lc rgb '#0072B2' title 'power p=1 d=64 h=2', \
     NaN with points pt 7 ps 1.2 lc rgb '#E69F00' title 'power p=2 d=64 h=2'
unset arrow 1
unset label 1
set autoscale
set title 'power d=128, sweep wsfr-mixers' font ',12'
set xrange [0.571428571:17.1419847]
set yrange [1.44664267:2.78654011]
set xtics ('1' 1, '2' 2, '3' 3, '5' 5, '10' 10)
set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 3 lw 1.5 lc rgb '#888888'
set label 1 'WSFR = 1 (balanced)' at 1, graph 0.97 right offset -0.5,0 font ',10' tc rgb '#666666'
plot 'data/isoflop_wsfr.dat' index 45 using 1:2 with points pt 7 ps 1.4 lc rgb '#D55E00' notitle, \
     'data/isoflop_wsfr.dat' index 46 using 1:2 with points pt 7 ps 1.4 lc rgb '#117733' notitle, \
     NaN with points pt 7 ps 1.4 lc rgb '#222222' title 'C = 1e13: undecided', \
     'data/isoflop_wsfr.dat' index 47 using 1:2 with points pt 5 ps 1.4 lc rgb '#D55E00' notitle, \
     'data/isoflop_wsfr.dat' index 48 using 1:2 with points pt 5 ps 1.4 lc rgb '#117733' notitle, \
     NaN with points pt 5 ps 1.4 lc rgb '#222222' title 'C = 3e13: undecided', \
     'data/isoflop_wsfr.dat' index 49 using 1:2 with points pt 9 ps 1.4 lc rgb '#D55E00' notitle, \
     'data/isoflop_wsfr.dat' index 50 using 1:2 with points pt 9 ps 1.4 lc rgb '#117733' notitle, \
     NaN with points pt 9 ps 1.4 lc rgb '#222222' title 'C = 1e14: undecided', \
     NaN with points pt 7 ps 1.2 lc rgb '#D55E00' title 'power p=1 d=128 h=4', \
     NaN with points pt 7 ps 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4'
unset arrow 1
unset label 1
set autoscale
set title 'power d=256, sweep wsfr-mixers' font ',12'
set xrange [0.571428571:33.6]
set yrange [1.89885053:2.64896773]
set xtics ('1' 1, '2' 2, '3' 3, '5' 5, '10' 10, '20' 20, '30' 30)
set arrow 1 from 1, graph 0 to 1, graph 1 nohead dt 3 lw 1.5 lc rgb '#888888'
set label 1 'WSFR = 1 (balanced)' at 1, graph 0.97 right offset -0.5,0 font ',10' tc rgb '#666666'
plot 'data/isoflop_wsfr.dat' index 51 using 1:2 with points pt 5 ps 1.4 lc rgb '#009E73' notitle, \
     'data/isoflop_wsfr.dat' index 52 using 1:2 with points pt 5 ps 1.4 lc rgb '#44AA99' notitle, \
     NaN with points pt 5 ps 1.4 lc rgb '#222222' title 'C = 3e13: undecided', \
     'data/isoflop_wsfr.dat' index 53 using 1:2 with points pt 9 ps 1.4 lc rgb '#009E73' notitle, \
     'data/isoflop_wsfr.dat' index 54 using 1:2 with points pt 9 ps 1.4 lc rgb '#44AA99' notitle, \
     NaN with points pt 9 ps 1.4 lc rgb '#222222' title 'C = 1e14: undecided', \
     NaN with points pt 7 ps 1.2 lc rgb '#009E73' title 'power p=1 d=256 h=8', \
     NaN with points pt 7 ps 1.2 lc rgb '#44AA99' title 'power p=2 d=256 h=8'
unset arrow 1
unset label 1
set autoscale
unset multiplot
